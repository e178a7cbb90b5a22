"""The Discord edge: the discord.py client, the sender that posts, the buttons and
views, route permissions and the slash-command cogs."""
