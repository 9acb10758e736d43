//! `cargo xtask images`: builds the staging images without any registry.
//!
//! 1. release binaries (`cricalgo-webhook`, `cricalgo-worker`, `cricalgo`);
//! 2. a Debian bookworm minbase rootfs (debootstrap, from the mirror the host's apt sources name),
//!    cached under `target/staging-images/`, imported as `cricalgo-base:<hash>`;
//! 3. postgres, redis, nginx and prometheus images on that base (legacy builder, Dockerfiles
//!    generated under `target/staging-images/`), honouring the official images' contracts that the
//!    compose file relies on;
//! 4. the app image (all three binaries) on the same base;
//! 5. `compose/.env` with the image names.
//!
//! Every tag is a content hash of what went into the image (base image id, Dockerfile, files,
//! binaries), so an unchanged image is never rebuilt and an image a revision points to is never
//! overwritten: a rollback target keeps its tag.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use sha2::{Digest, Sha256};

use crate::util::{cmd, root};

/// Debian release every image is built on (the same one the host runs, so the host's release
/// binaries find the glibc they were linked against).
const SUITE: &str = "bookworm";

/// Packages added to debootstrap's minbase.
const BASE_INCLUDE: &str = "ca-certificates";

#[derive(Debug, Default, Args)]
pub struct ImagesArgs {
    /// Skip the app image (infrastructure images only).
    #[arg(long)]
    pub no_app: bool,
    /// Rebuild even when an image with the same content hash exists.
    #[arg(long)]
    pub force: bool,
    /// Use the release binaries already in `target/release/` instead of building them.
    #[arg(long)]
    pub skip_build: bool,
}

/// One image built on the base: its name, Dockerfile body (after `FROM`) and extra files.
struct Spec {
    name: &'static str,
    env_key: &'static str,
    dockerfile: String,
    files: Vec<(String, Vec<u8>)>,
}

pub fn run(args: ImagesArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = root().join("target/staging-images");
    fs::create_dir_all(&work).with_context(|| format!("failed to create `{}`", work.display()))?;
    docker_available()?;

    if !args.no_app && !args.skip_build {
        cmd(
            "cargo",
            &[
                "build",
                "--release",
                "-p",
                "cricalgo-webhook",
                "-p",
                "cricalgo-worker",
                "-p",
                "cricalgo",
            ],
        )?;
    }

    let base = base_image(&work, args.force)?;
    let base_id = image_id(&base)?.context("base image vanished right after it was imported")?;

    let mut specs = vec![postgres(), redis(), nginx(), prometheus()];
    if !args.no_app {
        specs.push(app()?);
    }

    // Network-bound apt installs: build the missing images side by side.
    let mut names: BTreeMap<&'static str, String> = BTreeMap::new();
    let results: Vec<anyhow::Result<(&'static str, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = specs
            .iter()
            .map(|spec| {
                let work = &work;
                let base = &base;
                let base_id = &base_id;
                scope.spawn(move || {
                    build_on_base(work, base, base_id, spec, args.force)
                        .map(|image| (spec.env_key, image))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("image build thread panicked"))
            .collect()
    });
    for result in results {
        let (key, image) = result?;
        names.insert(key, image);
    }
    names.insert("BASE_IMAGE", base);

    write_env(&root().join("compose/.env"), &names)?;
    eprintln!(
        "xtask images: done in {:.1}s; image names written to compose/.env",
        started.elapsed().as_secs_f64()
    );
    for (key, image) in &names {
        eprintln!("  {key}={image}");
    }
    Ok(())
}

fn docker_available() -> anyhow::Result<()> {
    let output = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .context("failed to run `docker`: is the Docker CLI installed?")?;
    if !output.status.success() {
        bail!(
            "the Docker daemon is not reachable (`docker version` said: {}); start it or set `DOCKER_HOST`",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The id of a local image, `None` when there is no such image.
fn image_id(image: &str) -> anyhow::Result<Option<String>> {
    let output = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stderr(Stdio::null())
        .output()
        .context("failed to run `docker image inspect`")?;
    Ok(output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned()))
}

fn short_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())[..12].to_owned()
}

/// The Debian mirror the host's apt sources name (deb822 `.sources` or one-line `.list`).
fn host_mirror() -> String {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        paths.sort();
        candidates.extend(paths);
    }
    candidates.push(PathBuf::from("/etc/apt/sources.list"));
    for path in candidates {
        let name = path.to_string_lossy();
        if !(name.ends_with(".sources") || name.ends_with(".list")) {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|word| word.contains("://"))
            } else {
                None
            };
            if let Some(uri) = uri
                && uri.trim_end_matches('/').ends_with("/debian")
            {
                return uri.trim_end_matches('/').to_owned();
            }
        }
    }
    "http://deb.debian.org/debian".to_owned()
}

/// Debootstraps (cached) and imports the base image; returns its tag.
fn base_image(work: &Path, force: bool) -> anyhow::Result<String> {
    let mirror = host_mirror();
    let setup = BASE_SETUP;
    let hash = short_hash(&[
        SUITE.as_bytes(),
        mirror.as_bytes(),
        BASE_INCLUDE.as_bytes(),
        setup.as_bytes(),
    ]);
    let tag = format!("cricalgo-base:{hash}");
    if !force && image_id(&tag)?.is_some() {
        eprintln!("xtask images: {tag} is up to date");
        return Ok(tag);
    }
    let rootfs = work.join(format!("rootfs-{hash}"));
    let done = work.join(format!("rootfs-{hash}.done"));
    if force || !done.exists() {
        if rootfs.exists() {
            fs::remove_dir_all(&rootfs)
                .with_context(|| format!("failed to remove `{}`", rootfs.display()))?;
        }
        let target = rootfs.to_string_lossy().into_owned();
        cmd(
            "debootstrap",
            &[
                "--variant=minbase",
                &format!("--include={BASE_INCLUDE}"),
                SUITE,
                &target,
                &mirror,
            ],
        )
        .context("failed to debootstrap the base rootfs (is `debootstrap` installed? `apt-get install debootstrap`)")?;
        // Trim and prepare the rootfs the way container bases are: no services started by package
        // scripts, no recommends, no docs, empty apt caches.
        let script = rootfs.join("tmp/cricalgo-setup.sh");
        fs::write(&script, setup)?;
        cmd("chroot", &[&target, "/bin/sh", "/tmp/cricalgo-setup.sh"])?;
        fs::remove_file(&script)?;
        fs::write(&done, b"")?;
    }
    eprintln!("$ tar -C {} -c . | docker import - {tag}", rootfs.display());
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&rootfs)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to start `tar`")?;
    let tar_out = tar.stdout.take().expect("piped stdout");
    let import = Command::new("docker")
        .args([
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            "CMD [\"bash\"]",
            "--change",
            &format!("LABEL io.cricalgo.content-hash={hash}"),
            "-",
            &tag,
        ])
        .stdin(tar_out)
        .stdout(Stdio::null())
        .status()
        .context("failed to run `docker import`")?;
    let tar_status = tar.wait()?;
    if !tar_status.success() || !import.success() {
        bail!(
            "failed to import the base rootfs as `{tag}` (tar: {tar_status}, docker import: {import})"
        );
    }
    Ok(tag)
}

/// Run inside the fresh rootfs (chroot) before it is imported.
const BASE_SETUP: &str = r#"set -eu
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
cat > /etc/apt/apt.conf.d/90cricalgo <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
cat > /etc/dpkg/dpkg.cfg.d/90cricalgo-excludes <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/*/changelog* /usr/share/man/* /usr/share/info/*
"#;

/// Builds `cricalgo-<name>:<hash>` from `spec` on the base unless it exists; returns the tag.
fn build_on_base(
    work: &Path,
    base: &str,
    base_id: &str,
    spec: &Spec,
    force: bool,
) -> anyhow::Result<String> {
    let dockerfile = format!("FROM {base}\n{}", spec.dockerfile);
    let mut parts: Vec<&[u8]> = vec![base_id.as_bytes(), dockerfile.as_bytes()];
    for (name, bytes) in &spec.files {
        parts.push(name.as_bytes());
        parts.push(bytes);
    }
    let hash = short_hash(&parts);
    let tag = format!("cricalgo-{}:{hash}", spec.name);
    if !force && image_id(&tag)?.is_some() {
        eprintln!("xtask images: {tag} is up to date");
        return Ok(tag);
    }
    let context = work.join(format!("ctx-{}", spec.name));
    if context.exists() {
        fs::remove_dir_all(&context)?;
    }
    fs::create_dir_all(&context)?;
    fs::write(context.join("Dockerfile"), &dockerfile)?;
    for (name, bytes) in &spec.files {
        let path = context.join(name);
        fs::write(&path, bytes).with_context(|| format!("failed to write `{}`", path.display()))?;
        set_executable(&path)?;
    }
    eprintln!("xtask images: building {tag}");
    let started = Instant::now();
    let output = Command::new("docker")
        .args(["build", "--label"])
        .arg(format!("io.cricalgo.content-hash={hash}"))
        .args(["-t", &tag])
        .arg(&context)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .context("failed to run `docker build`")?;
    if !output.status.success() {
        let log = work.join(format!("build-{}.log", spec.name));
        let mut file = fs::File::create(&log)?;
        file.write_all(&output.stdout)?;
        file.write_all(&output.stderr)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        bail!(
            "`docker build` of `{tag}` failed (full log: `{}`):\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    eprintln!(
        "xtask images: built {tag} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(tag)
}

fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = fs::metadata(path)?.permissions();
    permissions.set_mode(0o755);
    fs::set_permissions(path, permissions)?;
    Ok(())
}

/// Rewrites our keys in `compose/.env`, keeping any other line the user put there.
fn write_env(path: &Path, names: &BTreeMap<&'static str, String>) -> anyhow::Result<()> {
    let existing = fs::read_to_string(path).unwrap_or_default();
    let mut text = String::new();
    for line in existing.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        if names.contains_key(key) || line.starts_with("# written by `cargo xtask images`") {
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(
        "# written by `cargo xtask images` (content-hash tags; rerun it after a change)\n",
    );
    for (key, image) in names {
        text.push_str(&format!("{key}={image}\n"));
    }
    fs::write(path, text).with_context(|| format!("failed to write `{}`", path.display()))
}

/// The official postgres image's contract: `POSTGRES_USER`/`POSTGRES_PASSWORD`/`POSTGRES_DB`
/// create the role and database on first start, data in `/var/lib/postgresql/data`, extra server
/// settings as `postgres -c key=value` arguments, `pg_isready` on the PATH.
fn postgres() -> Spec {
    Spec {
        name: "postgres",
        env_key: "POSTGRES_IMAGE",
        dockerfile: r#"RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/cricalgo.conf \
 && apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
"#
        .to_owned(),
        files: vec![(
            "docker-entrypoint.sh".to_owned(),
            POSTGRES_ENTRYPOINT.as_bytes().to_vec(),
        )],
    }
}

const POSTGRES_ENTRYPOINT: &str = r#"#!/bin/sh
# First start: create the cluster, the POSTGRES_USER role and the POSTGRES_DB database, as the
# official postgres image does; then run the server as `postgres`.
set -eu
case "$1" in -*) set -- postgres "$@" ;; esac
if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" -E UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
        createdb -U "$user" "$db"
        pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "postgres: initialized $PGDATA (user $user, database $db)"
fi
exec "$@"
"#;

/// The official redis image's contract: `redis-server [args]` as the command, protected mode off
/// (the container network is the boundary), `redis-cli` on the PATH, data in `/data`.
fn redis() -> Spec {
    Spec {
        name: "redis",
        env_key: "REDIS_IMAGE",
        dockerfile: r#"RUN apt-get update -qq && apt-get install -y -qq redis-server >/dev/null \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
"#
        .to_owned(),
        files: vec![(
            "docker-entrypoint.sh".to_owned(),
            REDIS_ENTRYPOINT.as_bytes().to_vec(),
        )],
    }
}

const REDIS_ENTRYPOINT: &str = r#"#!/bin/sh
# As the official redis image: flags alone mean `redis-server <flags>`; protected mode is off
# unless the command sets it.
set -eu
case "$1" in -*) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
    case " $* " in
        *" --protected-mode "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
"#;

/// The official nginx image's contract: configuration at `/etc/nginx/nginx.conf`, command
/// `nginx -g 'daemon off;'`, graceful stop on SIGQUIT, bash for the healthcheck.
fn nginx() -> Spec {
    Spec {
        name: "nginx",
        env_key: "NGINX_IMAGE",
        dockerfile: r#"RUN apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/nginx/sites-enabled/default
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
"#
        .to_owned(),
        files: Vec::new(),
    }
}

/// The `prom/prometheus` image's contract: entrypoint is the prometheus binary (the compose file
/// passes flags only), configuration in `/etc/prometheus`, storage in `/prometheus`, `wget` for
/// the healthcheck, runs as `nobody`.
fn prometheus() -> Spec {
    Spec {
        name: "prometheus",
        env_key: "PROMETHEUS_IMAGE",
        dockerfile:
            r#"RUN apt-get update -qq && apt-get install -y -qq prometheus wget >/dev/null \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus && chown nobody:nogroup /prometheus
WORKDIR /prometheus
USER nobody
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
"#
            .to_owned(),
        files: Vec::new(),
    }
}

/// The app image: the webhook, the worker and the `cricalgo` CLI (for `db migrate`/`db seed`).
fn app() -> anyhow::Result<Spec> {
    let release = root().join("target/release");
    let mut files = Vec::new();
    for binary in ["cricalgo-webhook", "cricalgo-worker", "cricalgo"] {
        let path = release.join(binary);
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "failed to read `{}`: build it with `cargo build --release -p {binary}`",
                path.display()
            )
        })?;
        files.push((binary.to_owned(), bytes));
    }
    Ok(Spec {
        name: "app",
        env_key: "APP_IMAGE",
        dockerfile: r#"COPY cricalgo-webhook cricalgo-worker cricalgo /usr/local/bin/
ENV PORT=8000 LOG_FORMAT=json
USER nobody
EXPOSE 8000 9100
CMD ["cricalgo-webhook"]
"#
        .to_owned(),
        files,
    })
}
