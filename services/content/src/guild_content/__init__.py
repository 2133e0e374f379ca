"""Guild content service: questions and answers."""
