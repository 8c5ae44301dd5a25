//! The policy hooks of the mstore seed (`smpp_store_submit`, `smpp_handle_DR_negative`, …).
