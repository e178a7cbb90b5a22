"""The slash commands: thin cogs over the core modules.

``stories`` (/search, /topics, /latest, /article) is for everyone; ``queue`` (/queue …)
and ``approval`` (the review buttons) are for moderators. A cog parses the interaction,
calls one core function (:mod:`bot.stories`, :mod:`bot.moderation`) and renders the answer
(:mod:`bot.views_render`).
"""
