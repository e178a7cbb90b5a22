"""The running bot: Discord client, scheduler jobs, and the senders delivery uses."""
