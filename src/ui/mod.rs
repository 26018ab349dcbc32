//! The GTK4 + libadwaita desktop front end.
