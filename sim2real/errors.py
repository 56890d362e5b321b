"""Errors caused by user input: the CLI prints them as one line and exits with code 2."""


class UserError(ValueError):
    """Bad input (a file, a field, a value); the message says what is valid."""
