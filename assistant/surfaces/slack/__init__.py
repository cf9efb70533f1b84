"""The Slack bot: events and commands through slack-bolt, Block Kit rendering, and its SQLite memory."""
