//! The `mstore display|reinstate|delete` console commands.
