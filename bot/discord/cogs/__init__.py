"""The slash commands: thin cogs over the core modules.

``stories`` (/search, /topics, /latest, /article) is for everyone; ``queue`` (/queue …)
and ``approval`` (the review buttons) are for moderators. A cog parses the interaction,
calls one core function (:mod:`bot.desk.stories`, :mod:`bot.desk.moderation`) and renders the answer
(:mod:`bot.render.replies`).
"""
