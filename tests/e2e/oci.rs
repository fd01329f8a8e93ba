//! Tools through an OCI registry: a real registry (Debian's `docker-registry`, distribution
//! 2.8) on loopback; one host pushes a signed tool, another host's catalog pulls it and
//! runs it identically; a tampered blob, an unsigned tool and a stranger's signature are
//! refused and nothing is installed.

use super::*;

/// `docker-registry serve` on a free loopback port with its storage in a temporary
/// directory; stopped when dropped.
struct LocalRegistry {
    child: Child,
    addr: String,
    storage: tempfile::TempDir,
}

impl LocalRegistry {
    fn start() -> Option<LocalRegistry> {
        let program = Path::new("/usr/bin/docker-registry");
        if !program.is_file() {
            println!("SKIPPED: docker-registry is not installed (make test installs it)");
            return None;
        }
        let storage = tempfile::tempdir().unwrap();
        let addr = free_local_addr();
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\nlog:\n  level: error\n",
                storage.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(program)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(LocalRegistry {
            child,
            addr,
            storage,
        })
    }

    /// The file holding the blob `digest` (`sha256:…`) in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A P-256 key pair as `openssl` writes it: (private PKCS#8 PEM, public SPKI PEM).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&private)
        .status()
        .unwrap()
        .success()
        && Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .unwrap()
            .success();
    assert!(ok, "openssl could not make a key pair");
    (private, public)
}

/// Another host: its own data and catalog, trusting `keys` and requiring signatures.
fn host(keys: &Path) -> (Env, tempfile::TempDir, impl Fn(&Env, &Path) -> Command) {
    let keys = keys.to_owned();
    let cordon = move |env: &Env, catalog: &Path| {
        let mut c = env.cordon();
        c.env("CORDON_TOOLS_DIR", catalog)
            .env("CORDON_TRUSTED_KEYS", &keys)
            .env("CORDON_REQUIRE_SIGNATURES", "1");
        c
    };
    (Env::new(), tempfile::tempdir().unwrap(), cordon)
}

#[test]
fn a_signed_tool_pushed_by_one_host_runs_identically_on_another_and_tampering_is_refused() {
    let Some(registry) = LocalRegistry::start() else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let (signing, trusted) = key_pair(keys.path(), "publisher");
    let (_, stranger) = key_pair(keys.path(), "stranger");
    let reference = format!("oci://{}/tools/text-analysis", registry.addr);
    let call = json!({"text": "I love this. It is great and fast."}).to_string();

    // The publishing host pushes its catalog's text-analysis, signed.
    let publisher = Env::new();
    let out = publisher
        .cordon()
        .args(["tools", "push"])
        .arg(tools_dir().join("text-analysis"))
        .arg(&reference)
        .arg("--sign")
        .arg(&signing)
        .output()
        .unwrap();
    let pushed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{pushed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        pushed.contains(":0.1.0@sha256:") && pushed.ends_with("(signed)\n"),
        "{pushed}"
    );
    let at = pushed.rsplit_once('@').unwrap().1;
    let manifest_digest = at.split_whitespace().next().unwrap().to_owned();
    let expected =
        stdout_json(&publisher.run(&["text-analysis", "--fn", "sentiment", "--json", &call]));

    // Another host pulls it by tag and by digest, the signature verified, and gets the
    // same answer from the same bytes.
    let (other, catalog, cordon) = host(&trusted);
    for source in [
        format!("{reference}:0.1.0"),
        format!("{reference}@{manifest_digest}"),
    ] {
        let out = cordon(&other, catalog.path())
            .args(["tools", "add", &source])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            said.contains(&format!(
                "@{manifest_digest} (signature verified with publisher.pub)"
            )),
            "{said}"
        );
    }
    let listed = stdout_json(
        &cordon(&other, catalog.path())
            .args(["tools", "list"])
            .output()
            .unwrap(),
    );
    let published = stdout_json(&publisher.cordon().args(["tools", "list"]).output().unwrap());
    let digest_of = |listing: &Value| {
        listing["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "text-analysis")
            .map(|t| t["digest"].clone())
            .unwrap()
    };
    assert_eq!(
        digest_of(&listed),
        digest_of(&published),
        "the same component"
    );
    let out = cordon(&other, catalog.path())
        .args(["run", "text-analysis", "--fn", "sentiment", "--json", &call])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out), expected, "runs identically");

    // A host trusting another key refuses the publisher's signature.
    let (wary, wary_catalog, cordon_wary) = host(&stranger);
    let out = cordon_wary(&wary, wary_catalog.path())
        .args(["tools", "add", &format!("{reference}:0.1.0")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(error_json(&out)["code"], "signature_invalid");

    // An unsigned push is refused where signatures are required.
    let out = publisher
        .cordon()
        .args(["tools", "push"])
        .arg(tools_dir().join("fs"))
        .arg(format!("oci://{}/tools/fs:unsigned", registry.addr))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cordon_wary(&wary, wary_catalog.path())
        .env("CORDON_TRUSTED_KEYS", &trusted)
        .args([
            "tools",
            "add",
            &format!("oci://{}/tools/fs:unsigned", registry.addr),
        ])
        .output()
        .unwrap();
    assert_eq!(error_json(&out)["code"], "signature_invalid");
    assert!(
        error_json(&out)["message"]
            .as_str()
            .unwrap()
            .contains("is not signed")
    );

    // Someone with write access to the registry's storage flips one bit of the component:
    // the pull is refused with a digest error and nothing is installed.
    let component = std::fs::read(tools_dir().join("text-analysis/text-analysis.wasm")).unwrap();
    let digest = cordon_oci::digest(&component);
    let blob = registry.blob_file(&digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    let (victim, victim_catalog, cordon_victim) = host(&trusted);
    let out = cordon_victim(&victim, victim_catalog.path())
        .args(["tools", "add", &format!("{reference}:0.1.0")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let error = error_json(&out);
    assert_eq!(error["code"], "digest_mismatch", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains(&digest),
        "{error}"
    );
    assert_eq!(
        std::fs::read_dir(victim_catalog.path()).unwrap().count(),
        0,
        "nothing installed"
    );
}
