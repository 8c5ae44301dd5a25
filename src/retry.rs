//! The retry engine: store on submit, decide on receipt, reroute or bounce.
