//! The domain core: both sides of a sync in the connector's own terms. It knows no Kubernetes,
//! no HTTP and no wire format; the Graph and Password Boss clients translate their wire types
//! into these at their edge, and the planner (`plan`) decides from these alone.

pub mod directory;
pub mod entra;

pub use directory::{
    Account, AccountStatus, DirectoryState, EVERYONE_GROUP, Group, Licenses, Owner, Role,
    is_routable_email,
};
pub use entra::{EntraGroup, EntraSnapshot, EntraUser, GroupProblem};
