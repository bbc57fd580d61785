"""Understanding residents: is a message a request, about what, how urgent, where."""
