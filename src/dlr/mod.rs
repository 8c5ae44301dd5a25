//! The DLR thrower: Jasmin-compatible delivery receipts to the application's `dlr-url`.
