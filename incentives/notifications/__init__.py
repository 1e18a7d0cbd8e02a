"""In-app notifications, stored as message ids and translated when shown."""
