#!/usr/bin/python3
"""Drives the real Talpa window through AT-SPI, the way a screen reader user would.

Run by tests/gui_atspi.rs with the system python (gi.repository.Atspi comes from Debian's
python3-gi + gir1.2-atspi-2.0, which a venv does not see), inside a D-Bus session whose
accessibility bus is up and with `talpa` already started on a fresh profile:

  atspi_drive.py --passphrase TEXT --screenshots DIR
  atspi_drive.py --passphrase TEXT --screenshots DIR --contact NAME --address JID --message BODY

The second form is given a profile that holds a conversation with a contact the user named
NAME (address JID) and a message BODY the contact sent: it unlocks with TEXT and checks that a
screen reader hears NAME for the contact's sidebar row and, once that row is activated, as the
sender of the message row showing BODY (not the address). Without --contact:

It finds the application on the AT-SPI desktop and, using accessible names only:
  1. walks every window's accessible tree and fails on any shown actionable node (button,
     toggle, menu item, text entry, check box, switch, combo, slider, spin button) that has no
     name, or only GTK's fallback name (the widget's type, e.g. "GtkImage");
  2. creates a profile (passphrase fields + "Create profile") and waits for the main window;
  3. opens the main menu and checks every menu item has a name; opens the shortcuts window and
     the About window from it (each walked, then closed);
  4. opens Preferences from the main menu, toggles the "Show notifications" switch and sees its checked state change,
     toggles it back, closes Preferences;
  5. locks with the "Lock Talpa" button and sees the unlock page again, with no name in the
     tree that was not there before the profile was unlocked (nothing of the session is left).

Screenshots of each step go to DIR (printed as "screenshot: PATH"). Progress goes to stdout;
the exit status is the verdict (0: every check held).
"""

import argparse
import os
import re
import subprocess
import sys
import time

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # noqa: E402

PATIENCE = 60.0

ACTIONABLE = {
    "push button",
    "toggle button",
    "menu item",
    "check menu item",
    "radio menu item",
    "text",
    "password text",
    "entry",
    "check box",
    "radio button",
    "switch",
    "combo box",
    "slider",
    "spin button",
    "link",
}

# GTK 4.8 names a node without a label after its widget type ("GtkImage", "AdwGizmo"): that is
# no name for a screen reader user.
FALLBACK_NAME = re.compile(r"^(Gtk|Adw)[A-Z][A-Za-z]*$")

FAILURES = []


START = time.monotonic()


def log(text):
    print(f"[{time.monotonic() - START:6.1f}s] {text}", flush=True)


def fail(text):
    log(f"FAIL: {text}")
    FAILURES.append(text)


def role(node):
    try:
        return node.get_role_name()
    except gi.repository.GLib.Error:
        return ""


def name(node):
    try:
        return node.get_name() or ""
    except gi.repository.GLib.Error:
        return ""


def states(node):
    try:
        return node.get_state_set()
    except gi.repository.GLib.Error:
        return None


def visible(node):
    st = states(node)
    return st is not None and st.contains(Atspi.StateType.VISIBLE)


def children(node):
    try:
        count = node.get_child_count()
    except gi.repository.GLib.Error:
        return []
    out = []
    for i in range(count):
        try:
            child = node.get_child_at_index(i)
        except gi.repository.GLib.Error:
            continue
        if child is not None:
            out.append(child)
    return out


def shown(node, depth=0):
    """Every visible node under `node` (itself included), skipping hidden subtrees."""
    if depth > 60 or not visible(node):
        return
    yield node
    for child in children(node):
        yield from shown(child, depth + 1)


def find_app():
    end = time.time() + PATIENCE
    while time.time() < end:
        desktop = Atspi.get_desktop(0)
        for app in children(desktop):
            if name(app) == "talpa" and any(role(w) == "frame" for w in children(app)):
                return app
        time.sleep(0.2)
    fail("no application named 'talpa' with a window appeared on the AT-SPI desktop")
    sys.exit(1)


def windows(app):
    return [w for w in children(app) if visible(w)]


def tree_names(app):
    return {name(n) for w in windows(app) for n in shown(w) if name(n)}


def unnamed(app, what):
    """Fails on every shown actionable node without a real name; returns how many were seen."""
    seen = 0
    for window in windows(app):
        if not name(window).strip() or FALLBACK_NAME.match(name(window)):
            fail(f"{what}: a {role(window)} has no accessible name ({name(window)!r})")
        for node in shown(window):
            r = role(node)
            if r not in ACTIONABLE:
                continue
            st = states(node)
            if r in ("text", "entry", "password text") and not (
                st is not None and st.contains(Atspi.StateType.EDITABLE)
            ):
                continue  # read-only text (About's license view) is not a control
            seen += 1
            n = name(node).strip()
            if not n or FALLBACK_NAME.match(n):
                path = []
                p = node
                for _ in range(4):
                    try:
                        p = p.get_parent()
                    except gi.repository.GLib.Error:
                        p = None
                    if p is None:
                        break
                    path.append(f"{role(p)}:{name(p)!r}")
                inner = [f"{role(c)}:{name(c)!r}" for c in shown(node)][1:6]
                path.insert(0, f"holding {inner}")
                fail(f"{what}: a {r} has no accessible name ({n!r}; inside {' < '.join(path)})")
    log(f"{what}: {seen} actionable nodes checked")
    return seen


def actions(node):
    try:
        return Atspi.Action.get_n_actions(node)
    except gi.repository.GLib.Error:
        return 0


def find(app, wanted_role, wanted_name, window_name=None):
    """The first shown node with this role and name; one with an action if there are several
    (a menu button is a node around its own button, both with the same name)."""
    found = []
    for window in windows(app):
        if window_name is not None and name(window) != window_name:
            continue
        for node in shown(window):
            if role(node) == wanted_role and name(node) == wanted_name:
                found.append(node)
    for node in found:
        if actions(node) > 0:
            return node
    return found[0] if found else None


def wait_for(app, wanted_role, wanted_name, window_name=None):
    end = time.time() + PATIENCE
    while time.time() < end:
        node = find(app, wanted_role, wanted_name, window_name)
        if node is not None:
            return node
        time.sleep(0.2)
    fail(f"no {wanted_role} named {wanted_name!r} appeared")
    dump(app)
    finish()


def wait_gone(app, wanted_role, wanted_name):
    end = time.time() + PATIENCE
    while time.time() < end:
        if find(app, wanted_role, wanted_name) is None:
            return
        time.sleep(0.2)
    fail(f"the {wanted_role} named {wanted_name!r} did not go away")
    finish()


def wait_window(app, window_name):
    end = time.time() + PATIENCE
    while time.time() < end:
        for w in windows(app):
            if name(w) == window_name:
                return w
        time.sleep(0.2)
    fail(f"no window named {window_name!r} appeared")
    dump(app)
    finish()


def click(node):
    try:
        done = Atspi.Action.do_action(node, 0)
    except gi.repository.GLib.Error as e:
        fail(f"the {role(node)} {name(node)!r} did not answer its action: {e}")
        finish()
    if not done:
        fail(f"the {role(node)} {name(node)!r} refused its action")
        finish()


def checked(node):
    st = states(node)
    return st is not None and st.contains(Atspi.StateType.CHECKED)


def set_text(node, text):
    if not Atspi.EditableText.set_text_contents(node, text):
        fail(f"could not type into the {role(node)} {name(node)!r}")
        finish()


def press(keys):
    """Sends a key chord like 'ctrl+l' through xdotool to the focused window."""
    subprocess.run(["xdotool", "key", keys], check=True, timeout=PATIENCE)


def screenshot(directory, label):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"atspi_{label}.png")
    subprocess.run(["import", "-window", "root", path], check=True, timeout=PATIENCE)
    log(f"screenshot: {path}")


def dump(app):
    for window in windows(app):
        for node in shown(window):
            log(f"  tree: {role(node)} {name(node)!r}")


def finish():
    if FAILURES:
        log(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)
    log("ATSPI-DRIVE-OK")
    sys.exit(0)


def close_window(app, window_name):
    """Closes a window with Escape or else a "Close" button of its own (a leaflet has one per
    page header, only one of them on screen) and waits for it to go."""
    window = wait_window(app, window_name)
    buttons = [
        n for n in shown(window) if role(n) == "push button" and name(n) == "Close" and actions(n)
    ]
    for button in [None, *reversed(buttons)]:
        try:
            if button is None:
                press("Escape")
            else:
                Atspi.Action.do_action(button, 0)
        except (gi.repository.GLib.Error, subprocess.SubprocessError):
            continue
        end = time.time() + 3
        while time.time() < end:
            if all(name(w) != window_name for w in windows(app)):
                return
            time.sleep(0.2)
    fail(f"the window {window_name!r} did not close with any of its {len(buttons)} Close buttons")
    finish()


def open_main_menu_item(app, item):
    click(wait_for(app, "push button", "Main menu"))
    entry = wait_for(app, "menu item", item)
    return entry


def parent(node):
    try:
        return node.get_parent()
    except gi.repository.GLib.Error:
        return None


def ancestor(node, wanted_role):
    """The nearest node above `node` (itself included) with this role."""
    depth = 0
    while node is not None and depth < 60:
        if role(node) == wanted_role:
            return node
        node = parent(node)
        depth += 1
    return None


def wait_node(app, what, matches):
    """The first shown node `matches` accepts, waiting for it."""
    end = time.time() + PATIENCE
    while time.time() < end:
        for window in windows(app):
            for node in shown(window):
                if matches(node):
                    return node
        time.sleep(0.2)
    fail(f"no {what} appeared")
    dump(app)
    finish()


def click_at(node):
    """Clicks the middle of `node` with the pointer (xdotool), where AT-SPI places it."""
    try:
        box = Atspi.Component.get_extents(node, Atspi.CoordType.SCREEN)
    except gi.repository.GLib.Error as e:
        fail(f"the {role(node)} {name(node)!r} has no place on screen: {e}")
        finish()
    x, y = box.x + box.width // 2, box.y + box.height // 2
    log(f"clicking the {role(node)} {name(node)!r} at {x},{y}")
    subprocess.run(
        ["xdotool", "mousemove", str(x), str(y), "click", "1"], check=True, timeout=PATIENCE
    )


def heard(node):
    """What a screen reader reads for a row: its name, else the names of what it holds."""
    return [name(node)] + [name(n) for n in shown(node) if n is not node and name(n)]


def contact_names(app, args):
    """The sidebar row and the message row of a contact named `args.contact` say the name."""
    set_text(wait_for(app, "text", "Profile passphrase Passphrase"), args.passphrase)
    click(wait_for(app, "push button", "Unlock"))
    wait_for(app, "push button", "Lock Talpa")
    log("unlocked the profile holding the named contact")
    row = wait_node(
        app,
        f"sidebar row named {args.contact!r}",
        lambda n: role(n) == "list item" and name(n).startswith(args.contact),
    )
    log(f"the sidebar row is read as {heard(row)!r}")
    screenshot(args.screenshots, "contact_1_sidebar")
    # GTK 4.8 gives a list row no AT-SPI action: it is clicked where AT-SPI says it is.
    click_at(row)
    body = wait_node(
        app,
        f"message {args.message!r}",
        lambda n: name(n) == args.message and ancestor(n, "list item") is not None,
    )
    message_row = ancestor(body, "list item")
    said = heard(message_row)
    log(f"the message row is read as {said!r}")
    screenshot(args.screenshots, "contact_2_message")
    if args.contact not in said[0] and args.contact not in said[1:]:
        fail(f"the message row does not name its sender {args.contact!r}: {said!r}")
    if any(s == args.address for s in said):
        fail(f"the message row names its sender by address: {said!r}")
    unnamed(app, "a named contact's conversation")
    finish()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--passphrase", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--contact")
    parser.add_argument("--address")
    parser.add_argument("--message")
    args = parser.parse_args()
    Atspi.init()
    # An action answers once the application has handled it (opening Preferences builds a
    # window): libatspi's default of 800 ms is too short on a loaded machine.
    Atspi.set_timeout(int(PATIENCE * 1000), int(PATIENCE * 1000))

    app = find_app()
    log("found talpa on the AT-SPI desktop")
    if args.contact is not None:
        contact_names(app, args)
    wait_for(app, "push button", "Unlock")
    screenshot(args.screenshots, "1_unlock")
    unnamed(app, "unlock page")
    before = tree_names(app)

    # Create a profile, by accessible names only.
    click(wait_for(app, "push button", "Create a new profile instead"))
    create = wait_for(app, "push button", "Create profile")
    unnamed(app, "create-profile page")
    before |= tree_names(app)
    set_text(wait_for(app, "text", "Profile passphrase Passphrase"), args.passphrase)
    set_text(wait_for(app, "text", "Repeat the new passphrase Repeat passphrase"), args.passphrase)
    screenshot(args.screenshots, "2_create")
    click(create)
    lock = wait_for(app, "push button", "Lock Talpa")
    log("the profile was created and the main window is shown")
    screenshot(args.screenshots, "3_session")
    unnamed(app, "main window")

    # The main menu: every item has a name.
    open_main_menu_item(app, "Preferences")
    menu_items = [
        n for w in windows(app) for n in shown(w) if role(n) in ("menu item", "check menu item")
    ]
    if len(menu_items) < 5:
        fail(f"the main menu shows only {len(menu_items)} items")
    screenshot(args.screenshots, "4_main_menu")
    unnamed(app, "main menu")
    press("Escape")

    # The shortcuts window and the About window, each walked and closed.
    click(open_main_menu_item(app, "Keyboard Shortcuts"))
    wait_window(app, "Keyboard Shortcuts")
    screenshot(args.screenshots, "5_shortcuts")
    unnamed(app, "shortcuts window")
    close_window(app, "Keyboard Shortcuts")
    click(open_main_menu_item(app, "About Talpa"))
    wait_window(app, "About")
    screenshot(args.screenshots, "6_about")
    unnamed(app, "About window")
    close_window(app, "About")

    # Preferences: toggle a switch and see its state change.
    click(open_main_menu_item(app, "Preferences"))
    wait_window(app, "Preferences")
    unnamed(app, "preferences")
    # GTK 4.8 exposes a switch as a check box named "<accessible label> <row title>".
    label = "Show notifications Show notifications"
    switch = wait_for(app, "check box", label, "Preferences")
    was = checked(switch)
    click(switch)
    end = time.time() + PATIENCE
    while checked(switch) == was and time.time() < end:
        time.sleep(0.2)
    if checked(switch) == was:
        fail(f"the switch {label!r} did not change state")
    else:
        log(f"the switch {label!r} went from {was} to {not was}")
    screenshot(args.screenshots, "7_preferences_toggled")
    click(switch)
    end = time.time() + PATIENCE
    while checked(switch) != was and time.time() < end:
        time.sleep(0.2)
    if checked(switch) != was:
        fail(f"the switch {label!r} did not change back")
    close_window(app, "Preferences")

    # Lock: the unlock page again, nothing of the session left in the tree.
    click(lock)
    wait_for(app, "push button", "Unlock")
    wait_gone(app, "push button", "Lock Talpa")
    screenshot(args.screenshots, "8_locked")
    after = tree_names(app)
    left = sorted(after - before)
    if left:
        fail(f"after locking, the tree still holds names from the session: {left}")
    for window in windows(app):
        for node in shown(window):
            if role(node) in ("text", "password text", "entry"):
                content = Atspi.Text.get_text(node, 0, -1)
                if content:
                    fail(f"after locking, the {role(node)} {name(node)!r} still holds text")
    unnamed(app, "unlock page after lock")
    finish()


if __name__ == "__main__":
    main()
