//! Scoped options (binding < binding_group < domain < global) and compatibility loaders.
