//! Where the control socket lives and who may use it (DESIGN section 6):
//! `STATE_DIR/orch.sock`, mode 0600 in a 0700 directory. A path too long
//! for a Unix socket address lives in the user's runtime directory instead,
//! and `orch.sock` is a link to it. A socket a killed server left behind
//! (nobody answers on it) is replaced; one a live server answers on is
//! never taken over. A peer of another user is refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

/// The name of the socket (or of the link to it) in the state directory.
pub const SOCKET_NAME: &str = "orch.sock";

/// The longest path a Unix socket address holds on Linux (108 bytes with
/// the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("an orch server already answers on {path}")]
    InUse { path: PathBuf },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> SocketError + 'p {
    move |source| SocketError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The path to bind or connect to for `state_dir`: the socket there, or,
/// when that path is too long, one in the user's runtime directory named
/// after the state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    let direct = state_dir.join(SOCKET_NAME);
    if direct.as_os_str().len() <= MAX_SOCKET_PATH {
        return direct;
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    state_dir.hash(&mut hasher);
    runtime_dir().join(format!("{:016x}.sock", hasher.finish()))
}

/// `$XDG_RUNTIME_DIR/orch`, else `/tmp/orch-UID`.
fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("orch"),
        None => std::env::temp_dir().join(format!("orch-{}", rustix::process::getuid().as_raw())),
    }
}

/// A directory only its owner (this user) may enter, made if missing.
fn private_dir(dir: &Path) -> Result<(), SocketError> {
    use std::os::unix::fs::MetadataExt;
    fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let owner = fs::symlink_metadata(dir)
        .map_err(io("inspecting", dir))?
        .uid();
    if owner != rustix::process::getuid().as_raw() {
        return Err(SocketError::Io {
            what: "using",
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("it belongs to another user (uid {owner})"),
            ),
        });
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io("securing", dir))
}

/// Bind the control socket of `state_dir` (made if missing, and made
/// private). A stale socket is replaced; a live one is [`SocketError::InUse`].
pub async fn bind(state_dir: &Path) -> Result<UnixListener, SocketError> {
    private_dir(state_dir)?;
    let path = socket_path(state_dir);
    if let Some(parent) = path.parent() {
        private_dir(parent)?;
    }
    if fs::symlink_metadata(&path).is_ok() {
        if UnixStream::connect(&path).await.is_ok() {
            return Err(SocketError::InUse { path });
        }
        fs::remove_file(&path).map_err(io("removing the stale socket", &path))?;
        tracing::info!(path = %path.display(), "replaced a stale control socket");
    }
    let listener = UnixListener::bind(&path).map_err(io("binding", &path))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io("securing", &path))?;
    let link = state_dir.join(SOCKET_NAME);
    if link != path {
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).map_err(io("linking", &link))?;
    }
    Ok(listener)
}

/// Connect to the control socket of `state_dir`: through the link in the
/// state directory when there is one (the server's runtime directory may
/// not be this process's), else where [`socket_path`] says.
pub async fn connect(state_dir: &Path) -> Result<UnixStream, SocketError> {
    let link = state_dir.join(SOCKET_NAME);
    let path = match fs::read_link(&link) {
        Ok(target) => target,
        Err(_) => socket_path(state_dir),
    };
    UnixStream::connect(&path)
        .await
        .map_err(io("connecting to", &path))
}

/// Connect to the socket at `path`, or where it links to: the link itself
/// may be too long for a socket address, its target never is.
pub async fn connect_path(path: &Path) -> Result<UnixStream, SocketError> {
    let target = match fs::read_link(path) {
        Ok(target) if target.is_relative() => {
            path.parent().map_or(target.clone(), |p| p.join(&target))
        }
        Ok(target) => target,
        Err(_) => path.to_path_buf(),
    };
    UnixStream::connect(&target)
        .await
        .map_err(io("connecting to", &target))
}

/// Is the peer of `stream` the user this process runs as?
pub fn same_user(stream: &UnixStream) -> bool {
    stream
        .peer_cred()
        .is_ok_and(|cred| cred.uid() == rustix::process::getuid().as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn the_socket_is_private_and_a_second_server_is_refused() {
        block_on(async {
            let tmp = tempfile::tempdir().expect("tempdir");
            let state = tmp.path().join(".orch");
            let listener = bind(&state).await.expect("bind");
            assert_eq!(mode(&state), 0o700);
            assert_eq!(mode(&state.join(SOCKET_NAME)), 0o600);
            let client = connect(&state).await.expect("connect");
            let (server_side, _) = listener.accept().await.expect("accept");
            assert!(same_user(&server_side));
            drop(client);
            assert!(matches!(bind(&state).await, Err(SocketError::InUse { .. })));
        });
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        block_on(async {
            let tmp = tempfile::tempdir().expect("tempdir");
            let state = tmp.path().join(".orch");
            let first = bind(&state).await.expect("bind");
            drop(first); // a killed server: the file stays, nobody answers
            assert!(state.join(SOCKET_NAME).exists());
            let _second = bind(&state).await.expect("the stale one is replaced");
            connect(&state).await.expect("connect");
        });
    }

    #[test]
    fn a_path_too_long_for_a_socket_lives_elsewhere_behind_a_link() {
        block_on(async {
            let tmp = tempfile::tempdir().expect("tempdir");
            let state = tmp.path().join("d".repeat(120)).join(".orch");
            let path = socket_path(&state);
            assert!(
                path.as_os_str().len() <= MAX_SOCKET_PATH,
                "{}",
                path.display()
            );
            assert_ne!(path, state.join(SOCKET_NAME));
            let listener = bind(&state).await.expect("bind");
            let link = fs::read_link(state.join(SOCKET_NAME)).expect("a link");
            assert_eq!(link, path);
            let _client = connect(&state).await.expect("connect");
            listener.accept().await.expect("accept");
            drop(listener);
            let _ = fs::remove_file(&path);
        });
    }

    #[test]
    fn a_client_follows_the_link_whatever_its_own_runtime_directory() {
        block_on(async {
            // The server's socket is where its runtime directory was; this
            // process's would be elsewhere.
            let tmp = tempfile::tempdir().expect("tempdir");
            let state = tmp.path().join("d".repeat(120)).join(".orch");
            fs::create_dir_all(&state).expect("state dir");
            let elsewhere = tmp.path().join("s.sock");
            let listener = UnixListener::bind(&elsewhere).expect("bind");
            std::os::unix::fs::symlink(&elsewhere, state.join(SOCKET_NAME)).expect("link");
            assert_ne!(socket_path(&state), elsewhere);
            let _client = connect(&state).await.expect("connect through the link");
            listener.accept().await.expect("accept");
        });
    }
}
