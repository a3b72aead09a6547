//! Microsoft Graph and Entra token endpoint simulator.
