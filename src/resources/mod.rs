//! The provider's managed resources, one module each.

pub mod custom_image;
