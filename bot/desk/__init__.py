"""The desk: what the commands do — reading stories for everyone, moderating queues
and approvals for moderators — free of discord.py."""
