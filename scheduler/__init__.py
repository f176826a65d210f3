"""okno core: application factory, configuration, extensions, calendars and availability."""
