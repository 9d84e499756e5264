//! The provider's data sources, one module each, and the list the provider
//! serves.

use crate::framework::AnyDataSource;
use crate::provider_data::ProviderData;
use std::sync::Arc;

/// Every data source the provider serves.
pub fn all() -> Vec<Arc<dyn AnyDataSource<ProviderData>>> {
    Vec::new()
}
