//! The control socket's wire format (DESIGN section 7): bounded,
//! length-prefixed frames (`frame`) and the versioned hello that starts
//! every connection (`protocol`): the part the server and its clients
//! share. The server and the clients are not built yet.

pub mod frame;
pub mod protocol;
pub mod socket;
