//! A damaged profile at unlock, in the window: the unlock page says the profile is damaged or
//! was tampered with, stays in unlock mode (it never offers to create a new profile over it)
//! and no file of the profile changes (docs/USER_GUIDE.md, "Damaged profile"). In-process, with
//! the real core on a profile whose database was cut short. The page offers "Create a new
//! profile instead" only while no profile exists: never over an existing one, damaged or not.
//!
//! Runs as a child of itself on a private Xvfb (see `gui_support::run_as_gui_child`).

mod gui_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gtk4::prelude::*;
use libadwaita as adw;
use libadwaita::prelude::*;

use talpa::core::{CoreHandle, CoreOptions};
use talpa::store::{Passphrase, Profile};

use gui_support::{find_widget, pump, pump_until, visible_texts};
use talpa::ui::unlock_page::UnlockPage;

const PASSPHRASE: &str = "damaged but mine";

/// The profile directory and its files as the damage left them.
static DAMAGED: OnceLock<(PathBuf, BTreeMap<String, Vec<u8>>)> = OnceLock::new();
/// The (empty) profile directory of the test without a profile.
static DIR: OnceLock<PathBuf> = OnceLock::new();

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("profile dir")
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read profile file"),
            )
        })
        .collect()
}

#[test]
fn a_damaged_profile_is_named_at_unlock_and_nothing_is_created_over_it() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(damaged_profile, checks);
        return;
    }
    gui_support::run_as_gui_child(
        "a_damaged_profile_is_named_at_unlock_and_nothing_is_created_over_it",
    );
}

/// A real profile, locked, its database then cut short mid-page (a crash of the disk, or
/// someone's hands).
fn damaged_profile(dir: PathBuf) -> CoreOptions {
    let store = Profile::create(&dir, &Passphrase::from(PASSPHRASE)).expect("create profile");
    store.lock().expect("lock");
    let db = dir.join("talpa.db");
    let len = std::fs::metadata(&db).expect("db").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open db")
        .set_len(len - 100)
        .expect("truncate");
    let _ = DAMAGED.set((dir.clone(), snapshot(&dir)));
    CoreOptions::new(dir)
}

fn checks(app: &adw::Application, core: CoreHandle) {
    let window = gui_support::locked_window(app, core);
    let root = window.upcast_ref::<gtk4::Widget>();
    let row = find_widget::<adw::PasswordEntryRow>(root, &|r| r.title() == "Passphrase")
        .expect("the passphrase row");
    let confirm = find_widget::<adw::PasswordEntryRow>(root, &|r| r.title() == "Repeat passphrase")
        .expect("the repeat row");
    pump_until("the unlock mode", || !confirm.is_visible());
    let page = find_widget::<UnlockPage>(root, &|_| true).expect("the unlock page");
    // The core answers at once; give it time to (wrongly) say there is no profile.
    pump(std::time::Duration::from_millis(500));
    assert!(
        !page.offers_creation(),
        "an existing profile: the page does not offer to create one"
    );
    assert!(
        !visible_texts(root).contains("Create a new profile instead")
            && find_widget::<gtk4::Button>(root, &|b| {
                b.label()
                    .is_some_and(|l| l == "Create a new profile instead")
                    && b.is_visible()
            })
            .is_none(),
        "no visible button creates a profile"
    );
    row.set_text(PASSPHRASE);
    let submit = find_widget::<gtk4::Button>(root, &|b| {
        b.label().is_some_and(|l| l == "Unlock") && b.is_visible()
    })
    .expect("the Unlock button");
    submit.emit_clicked();
    pump_until("the answer", || {
        visible_texts(root).contains("damaged or were tampered with")
    });
    assert!(!window.is_unlocked(), "a damaged profile does not open");
    assert!(
        !confirm.is_visible() && !page.offers_creation(),
        "the page still unlocks: it does not offer to create a profile over the damaged one"
    );
    let (dir, before) = DAMAGED.get().expect("the damaged profile");
    let now: BTreeMap<_, _> = snapshot(dir)
        .into_iter()
        .filter(|(name, _)| name != "talpa.lock")
        .collect();
    let before: BTreeMap<_, _> = before
        .iter()
        .filter(|(name, _)| *name != "talpa.lock")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(now, before, "no file of the profile changed");
}

#[test]
fn the_unlock_page_offers_to_create_a_profile_only_while_none_exists() {
    if gui_support::is_gui_child() {
        gui_support::run_app_checks_with(
            |dir| {
                let _ = DIR.set(dir.clone());
                CoreOptions::new(dir)
            },
            offers_creation_only_without_a_profile,
        );
        return;
    }
    gui_support::run_as_gui_child(
        "the_unlock_page_offers_to_create_a_profile_only_while_none_exists",
    );
}

/// The same page: offers creation on an empty profile directory; once a profile is there (made
/// on disk behind the page's back) and the page shows again, it no longer does.
#[allow(clippy::needless_pass_by_value)] // run_app_checks' signature
fn offers_creation_only_without_a_profile(app: &adw::Application, core: CoreHandle) {
    let window = gui_support::locked_window(app, core);
    let root = window.upcast_ref::<gtk4::Widget>();
    let page = find_widget::<UnlockPage>(root, &|_| true).expect("the unlock page");
    pump_until("the offer to create a profile", || page.offers_creation());
    let create = find_widget::<gtk4::Button>(root, &|b| {
        b.label()
            .is_some_and(|l| l == "Create a new profile instead")
            && b.is_visible()
    })
    .expect("the visible button that creates a profile");
    let dir = DIR.get().expect("the profile directory");
    Profile::create(dir, &Passphrase::from(PASSPHRASE))
        .expect("create profile")
        .lock()
        .expect("lock");
    window.show_locked();
    pump_until("the offer withdrawn", || !page.offers_creation());
    assert!(!create.is_visible(), "the button is hidden");
    // A click that still reached the button (it was on screen a moment ago) does nothing.
    create.emit_clicked();
    pump(std::time::Duration::from_millis(100));
    let confirm = find_widget::<adw::PasswordEntryRow>(root, &|r| r.title() == "Repeat passphrase")
        .expect("the repeat row");
    assert!(!confirm.is_visible(), "still the unlock mode");
}
