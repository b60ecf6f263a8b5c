//! Faults of the gateway's own machine, on the real Postfix + Dovecot: the disk under
//! the database fills up and empties again, and another process holds the database's
//! write lock. Intake and sending resume by themselves; nothing is lost and no
//! reporter gets a second acknowledgement.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::gateway::{report, wait_mail, wait_until, Gateway, Wire};
use common::mailbox::{fetch_all, send_smtp};
use common::stack::MailStack;

/// A small tmpfs for the gateway's data directory, unmounted on drop.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// `None` (after saying why) where mounting is not possible, except under CI.
    fn mount(size_mb: u32) -> Option<SmallDisk> {
        let path = std::env::temp_dir().join(format!("igw-disk-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("CI").is_err(),
                "cannot mount a tmpfs (needs root); CI must run this test"
            );
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { path })
    }

    /// Writes a file until the file system is full; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler.bin");
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.flush();
        // The last partial chunk too.
        while f.write_all(&chunk[..512]).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Points the gateway's `data_dir` at `dir`.
fn move_data_dir(gw: &Gateway, dir: &Path) {
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let text = text
        .lines()
        .map(|l| {
            if l.starts_with("data_dir = ") {
                format!("data_dir = \"{}\"", dir.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&gw.config, text).expect("write config");
}

/// Waits until every outbox row is sent, a little more, then checks that each of
/// `who` has exactly one message.
async fn exactly_one_each(stack: &MailStack, gw: &Gateway, who: &[String]) {
    wait_until("the outbox to be all sent", Duration::from_secs(90), || {
        let rows = gw.outbox();
        (rows.len() >= who.len() && rows.iter().all(|r| r["status"] == "sent")).then_some(())
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    for w in who {
        let n = fetch_all(stack, w, "INBOX").await.len();
        assert_eq!(
            n,
            1,
            "{w} has {n} acknowledgements; gateway log:\n{}",
            gw.log_text()
        );
    }
}

fn reporters(n: usize, tag: &str) -> Vec<String> {
    let u = uuid::Uuid::new_v4().simple().to_string();
    (0..n)
        .map(|i| format!("{tag}{i}-{}@agency.test", &u[..10]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_pauses_intake_and_sending_which_resume_when_space_returns() {
    let Some(disk) = SmallDisk::mount(24) else {
        return;
    };
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    move_data_dir(&gw, &disk.path);
    gw.start(&[]);
    let before = reporters(3, "before");
    for w in &before {
        let (_, raw) = report(
            w,
            &gw.soc,
            "Phishing email",
            "A phish.\nAgency: Department of Revenue",
        );
        send_smtp(stack, w, &[gw.soc.as_str()], &raw).await;
    }
    for w in &before {
        wait_mail(stack, &gw, w, 1).await;
    }

    // The disk fills up; reports keep arriving.
    let filler = disk.fill();
    let during = reporters(6, "during");
    for w in &during {
        let (_, raw) = report(
            w,
            &gw.soc,
            "Suspicious login",
            "A suspicious login.\nAgency: Department of Revenue",
        );
        send_smtp(stack, w, &[gw.soc.as_str()], &raw).await;
    }
    gw.wait_log("full", Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Space returns: everything resumes without a restart.
    std::fs::remove_file(&filler).expect("free the disk");
    let everyone: Vec<String> = before.iter().chain(during.iter()).cloned().collect();
    wait_until("every report stored", Duration::from_secs(90), || {
        (gw.cases().len() == everyone.len()).then_some(())
    });
    exactly_one_each(stack, &gw, &everyone).await;
    assert!(gw.terminate().success());
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_by_another_process_delays_but_never_doubles() {
    use sqlx::Connection;
    let stack = MailStack::shared();
    let mut gw = Gateway::new(stack, Wire::Plain, "");
    gw.start(&[("IGW_OUTBOX__LEASE_SECS", "5")]);
    gw.wait_log("IMAP intake connected", Duration::from_secs(30));
    let who = reporters(8, "lock");
    let (first, rest) = who.split_at(4);
    for w in first {
        let (_, raw) = report(w, &gw.soc, "Phishing email", "A phish.");
        send_smtp(stack, w, &[gw.soc.as_str()], &raw).await;
    }
    // Another process takes the database's write lock while those are being answered
    // and more reports arrive, and holds it longer than the gateway waits for it.
    let url = format!("sqlite://{}", gw.data_dir().join("gateway.db").display());
    let mut other = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open db");
    sqlx::query("begin immediate")
        .execute(&mut other)
        .await
        .expect("take the write lock");
    for w in rest {
        let (_, raw) = report(w, &gw.soc, "Suspicious login", "A login.");
        send_smtp(stack, w, &[gw.soc.as_str()], &raw).await;
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    sqlx::query("rollback")
        .execute(&mut other)
        .await
        .expect("release");
    drop(other);
    wait_until("every report stored", Duration::from_secs(90), || {
        (gw.cases().len() == who.len()).then_some(())
    });
    exactly_one_each(stack, &gw, &who).await;
    assert!(gw.terminate().success());
}
