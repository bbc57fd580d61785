"""The domain: intake and classification rules, commands, the case workflow, notices."""
