"""Readers that turn labelled and unlabelled sources into a list of ``Sample``s."""
