//! The "resource manifest" check: templates are compiled into the binary from `ui/` (one per
//! widget, at the path mirroring its `.rs`), and every file under `resources/` is either
//! compiled in or installable. Nothing here is maintained by memory: the tests walk the trees.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// Every `"...ui"` string literal in a source file, resolved relative to that file.
fn template_references(rs: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(rs).unwrap_or_else(|e| panic!("read {}: {e}", rs.display()));
    let dir = rs.parent().expect("a source file has a directory");
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|lit| Path::new(lit).extension().is_some_and(|e| e == "ui") && lit.contains("ui/"))
        .map(|lit| dir.join(lit))
        .collect()
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize()
        .unwrap_or_else(|e| panic!("{} does not exist: {e}", p.display()))
}

#[test]
fn every_template_is_compiled_into_the_widget_at_its_mirrored_path() {
    let ui_dir = root().join("ui");
    let mut templates = Vec::new();
    files_under(&ui_dir, "ui", &mut templates);
    assert!(!templates.is_empty(), "no templates found under ui/");
    for template in &templates {
        let relative = template.strip_prefix(&ui_dir).expect("under ui/");
        let rs = root().join("src/ui").join(relative).with_extension("rs");
        assert!(
            rs.exists(),
            "{} has no widget source at {}",
            template.display(),
            rs.display()
        );
        let used = template_references(&rs)
            .iter()
            .any(|r| r.exists() && canonical(r) == canonical(template));
        assert!(
            used,
            "{} does not compile in its template {}",
            rs.display(),
            template.display()
        );
    }
}

#[test]
fn every_template_reference_names_an_existing_template() {
    let mut sources = Vec::new();
    files_under(&root().join("src/ui"), "rs", &mut sources);
    let ui_dir = canonical(&root().join("ui"));
    let mut referenced = BTreeSet::new();
    for rs in &sources {
        for reference in template_references(rs) {
            assert!(
                reference.exists(),
                "{} names a missing template {}",
                rs.display(),
                reference.display()
            );
            let reference = canonical(&reference);
            assert!(
                reference.starts_with(&ui_dir),
                "{} takes a template from outside ui/: {}",
                rs.display(),
                reference.display()
            );
            assert!(
                referenced.insert(reference.clone()),
                "{} is used by two widgets",
                reference.display()
            );
        }
    }
}

#[test]
fn every_resource_file_is_compiled_in_or_installable() {
    let resources = root().join("resources");
    let mut files = Vec::new();
    for ext in ["css", "desktop", "xml", "svg", "yml"] {
        files_under(&resources, ext, &mut files);
    }
    let mut all = Vec::new();
    collect_all(&resources, &mut all);
    assert_eq!(
        all.len(),
        files.len(),
        "resources/ holds files of an unchecked kind: {all:?}"
    );

    let ui_mod = std::fs::read_to_string(root().join("src/ui/mod.rs")).expect("src/ui/mod.rs");
    assert!(
        ui_mod.contains("include_str!(\"../../resources/style.css\")"),
        "style.css is not compiled in"
    );

    let desktop = std::fs::read_to_string(resources.join("org.talpa.Talpa.desktop"))
        .expect("the .desktop file");
    for key in [
        "[Desktop Entry]",
        "Type=Application",
        "Name=Talpa",
        "Exec=talpa",
        "Icon=org.talpa.Talpa",
    ] {
        assert!(
            desktop.lines().any(|l| l == key),
            "the .desktop file lacks {key}"
        );
    }

    for icon in [
        "icons/hicolor/scalable/apps/org.talpa.Talpa.svg",
        "icons/hicolor/symbolic/apps/org.talpa.Talpa-symbolic.svg",
    ] {
        let svg = std::fs::read_to_string(resources.join(icon))
            .unwrap_or_else(|e| panic!("icon {icon}: {e}"));
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{icon} is not an SVG"
        );
    }
}

fn collect_all(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect_all(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn appstream_metainfo_validates() {
    let out = Command::new("appstreamcli")
        .args(["validate", "--no-net"])
        .arg(root().join("resources/org.talpa.Talpa.metainfo.xml"))
        .output()
        .expect("appstreamcli must be installed (apt install appstream)");
    assert!(
        out.status.success(),
        "metainfo does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn flatpak_manifest_uses_the_gnome_runtime_and_grants_only_minimal_permissions() {
    let manifest = std::fs::read_to_string(root().join("resources/flatpak/org.talpa.Talpa.yml"))
        .expect("the Flatpak manifest");
    let value = |key: &str| {
        manifest
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .map(|v| v.trim().trim_matches('\'').to_owned())
    };
    assert_eq!(value("app-id").as_deref(), Some("org.talpa.Talpa"));
    assert_eq!(value("runtime").as_deref(), Some("org.gnome.Platform"));
    // GNOME 43 ships GTK 4.8 and libadwaita 1.2, what Talpa targets.
    assert_eq!(value("runtime-version").as_deref(), Some("43"));
    assert_eq!(value("command").as_deref(), Some("talpa"));
    let mut in_finish_args = false;
    let mut granted = Vec::new();
    for line in manifest.lines() {
        if line.starts_with("finish-args:") {
            in_finish_args = true;
        } else if in_finish_args {
            match line.trim().strip_prefix("- ") {
                Some(arg) if line.starts_with("  ") => granted.push(arg.to_owned()),
                _ => in_finish_args = false,
            }
        }
    }
    let allowed = [
        "--share=network",
        "--share=ipc",
        "--socket=wayland",
        "--socket=fallback-x11",
        "--device=dri",
    ];
    for arg in &granted {
        assert!(
            allowed.contains(&arg.as_str()),
            "the sandbox grants more than it needs: {arg}"
        );
    }
    for needed in [
        "--share=network",
        "--socket=wayland",
        "--socket=fallback-x11",
        "--device=dri",
    ] {
        assert!(
            granted.iter().any(|a| a == needed),
            "the sandbox lacks {needed}"
        );
    }
    assert!(
        !manifest.contains("--filesystem"),
        "the sandbox must not see the user's files"
    );
    assert!(
        !manifest.contains("--socket=x11"),
        "X11 is only a fallback to Wayland"
    );
    for installed in [
        "resources/org.talpa.Talpa.desktop",
        "resources/org.talpa.Talpa.metainfo.xml",
        "resources/icons/hicolor/scalable/apps/org.talpa.Talpa.svg",
        "resources/icons/hicolor/symbolic/apps/org.talpa.Talpa-symbolic.svg",
    ] {
        assert!(
            manifest.contains(installed),
            "the manifest does not install {installed}"
        );
        assert!(root().join(installed).exists(), "{installed} is missing");
    }
}
