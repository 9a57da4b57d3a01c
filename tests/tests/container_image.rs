//! Volley's container image, built and run without a container engine (none runs on these
//! machines): `container/build-rootfs.sh` makes the root filesystem from the binary cargo
//! built, `container/oci-image.py` writes it as an OCI image archive, and
//! `container/smoke-test.sh` checks the archive's digests and config, unpacks it and runs it as
//! a runtime would — read-only root, tmpfs `/tmp`, the image's non-root user — with
//! `volley version`, `volley target` and a `volley run` against it. Needs root (unshare,
//! mount, chroot), as the partition tests do. Then podman builds `container/Containerfile` from
//! the same root filesystem and runs it read-only, without capabilities, as its non-root user
//! (`container/podman-smoke.sh`, which says which flags a machine that is itself a container
//! needs); without podman the test fails under `CI=true` (`.ci/run` installs it) and says SKIP
//! otherwise.

use std::process::Command;

use volley_e2e::{free_port, run_ok, temp_dir, volley_bin, workspace_root};

fn run(cmd: &mut Command) -> String {
    run_ok(cmd, "")
}

#[test]
fn the_image_runs_a_test_read_only_as_a_non_root_user() {
    let dir = temp_dir("container-image");
    let container = workspace_root().join("container");
    let rootfs = dir.join("rootfs");
    let image = dir.join("volley.oci.tar");
    run(Command::new("bash")
        .arg(container.join("build-rootfs.sh"))
        .arg(volley_bin())
        .arg(&rootfs));
    let tag = format!("volley:{}", env!("CARGO_PKG_VERSION"));
    run(Command::new("python3")
        .arg(container.join("oci-image.py"))
        .arg(&rootfs)
        .arg(&image)
        .args(["--tag", &tag]));
    let out = run(Command::new("bash")
        .arg(container.join("smoke-test.sh"))
        .arg(&image)
        .arg(free_port().to_string()));
    assert!(
        out.contains(&format!("volley v{}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    assert!(out.contains("image user 65532:65532"), "{out}");
    assert!(out.contains("smoke test passed"), "{out}");
    let has_podman = Command::new("podman").arg("--version").output().is_ok();
    if has_podman {
        let out = run(Command::new("bash")
            .arg(container.join("podman-smoke.sh"))
            .arg(&rootfs)
            .arg(dir.join("podman")));
        assert!(out.contains("user 65532:65532"), "{out}");
        assert!(
            out.contains(&format!("volley v{}", env!("CARGO_PKG_VERSION"))),
            "{out}"
        );
        assert!(
            out.contains("volley run in the image: 20 iterations"),
            "{out}"
        );
        assert!(out.contains("podman smoke test passed"), "{out}");
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("podman is not installed: .ci/run installs it (apt-get install podman runc)");
    } else {
        eprintln!("SKIP the podman build: podman is not installed (apt-get install podman runc)");
    }
}
