//! The `data_coding` field of SMPP 3.4 §5.2.19.

/// The alphabet a `data_coding` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// `0x00`: the SMSC's default alphabet (usually GSM 03.38 7-bit).
    SmscDefault,
    /// `0x01`: IA5 (CCITT T.50) / ASCII.
    Ia5,
    /// `0x02` or `0x04`: 8-bit binary.
    Binary,
    /// `0x03`: Latin 1 (ISO-8859-1).
    Latin1,
    /// `0x05`: JIS (X 0208-1990).
    Jis,
    /// `0x06`: Cyrillic (ISO-8859-5).
    Cyrillic,
    /// `0x07`: Latin/Hebrew (ISO-8859-8).
    LatinHebrew,
    /// `0x08`: UCS2 (ISO/IEC-10646), big-endian.
    Ucs2,
    /// `0x09`: pictogram encoding.
    Pictogram,
    /// `0x0A`: ISO-2022-JP (music codes).
    Iso2022Jp,
    /// `0x0D`: extended Kanji JIS (X 0212-1990).
    ExtendedKanjiJis,
    /// `0x0E`: KS C 5601.
    KsC5601,
    /// `0xF0`-`0xFF` with bit 2 clear: GSM 7-bit default alphabet with a message class.
    GsmMessageClass7Bit,
    /// `0xF0`-`0xFF` with bit 2 set: 8-bit data with a message class.
    GsmMessageClass8Bit,
    /// Any other value (reserved, or GSM 03.38 coding groups the spec leaves to the network).
    Other,
}

/// The `data_coding` octet (SMPP 3.4 §5.2.19): how short_message is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DataCoding(pub u8);

impl DataCoding {
    /// SMSC default alphabet.
    pub const SMSC_DEFAULT: DataCoding = DataCoding(0x00);
    /// IA5 / ASCII.
    pub const IA5: DataCoding = DataCoding(0x01);
    /// 8-bit binary.
    pub const BINARY: DataCoding = DataCoding(0x02);
    /// Latin 1.
    pub const LATIN1: DataCoding = DataCoding(0x03);
    /// UCS2.
    pub const UCS2: DataCoding = DataCoding(0x08);

    /// The alphabet this value names.
    pub const fn alphabet(self) -> Alphabet {
        match self.0 {
            0x00 => Alphabet::SmscDefault,
            0x01 => Alphabet::Ia5,
            0x02 | 0x04 => Alphabet::Binary,
            0x03 => Alphabet::Latin1,
            0x05 => Alphabet::Jis,
            0x06 => Alphabet::Cyrillic,
            0x07 => Alphabet::LatinHebrew,
            0x08 => Alphabet::Ucs2,
            0x09 => Alphabet::Pictogram,
            0x0A => Alphabet::Iso2022Jp,
            0x0D => Alphabet::ExtendedKanjiJis,
            0x0E => Alphabet::KsC5601,
            v if v & 0xF0 == 0xF0 && v & 0x04 == 0 => Alphabet::GsmMessageClass7Bit,
            v if v & 0xF0 == 0xF0 => Alphabet::GsmMessageClass8Bit,
            _ => Alphabet::Other,
        }
    }

    /// The GSM message class (0-3) for `0xF0`-`0xFF` values.
    pub const fn message_class(self) -> Option<u8> {
        if self.0 & 0xF0 == 0xF0 {
            Some(self.0 & 0x03)
        } else {
            None
        }
    }

    /// True when short_message is UCS2.
    pub const fn is_ucs2(self) -> bool {
        self.0 == 0x08
    }

    /// True when short_message is binary data rather than text.
    pub const fn is_binary(self) -> bool {
        matches!(
            self.alphabet(),
            Alphabet::Binary | Alphabet::GsmMessageClass8Bit
        )
    }
}

impl From<u8> for DataCoding {
    fn from(value: u8) -> Self {
        DataCoding(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabets() {
        assert_eq!(DataCoding(0).alphabet(), Alphabet::SmscDefault);
        assert_eq!(DataCoding(4).alphabet(), Alphabet::Binary);
        assert!(DataCoding::UCS2.is_ucs2());
        assert_eq!(DataCoding(0xF1).alphabet(), Alphabet::GsmMessageClass7Bit);
        assert_eq!(DataCoding(0xF6).alphabet(), Alphabet::GsmMessageClass8Bit);
        assert_eq!(DataCoding(0xF6).message_class(), Some(2));
        assert!(DataCoding(0xF6).is_binary());
        assert_eq!(DataCoding(0x0B).alphabet(), Alphabet::Other);
    }
}
