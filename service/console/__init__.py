"""The release owners' console: sign-in by key possession, sessions, packet views and pages."""
