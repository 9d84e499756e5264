//! The UCloud API client: signed requests, retries that never create twice,
//! typed image actions, and the credential chain. It knows nothing of
//! Terraform, so another program could use it.

pub mod sign;
