"""Configuration: the YAML settings file read and checked, cron schedules, and
``newsdesk check-config``."""
