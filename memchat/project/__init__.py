"""Bot projects in Rasa 3.x's formats: a folder memchat reads, checks and trains on.

    PROJECT/domain.yml (or domain/)   intents, entities, slots, responses, actions, forms
    PROJECT/data/**/*.yml             NLU examples, synonyms, lookups; stories; rules
    PROJECT/tests/*.yml               test stories, with the user's text (``memchat test``)
    PROJECT/config.toml               memchat's settings: [train], [generate], [kb], [rules]
    PROJECT/*.csv                     a knowledge base the bot searches, named in config.toml [kb]

Rasa's ``config.yml`` (pipeline and policies), ``endpoints.yml`` and ``credentials.yml`` are not
read: memchat says so once, in a note. Every error names ``file:line`` and what was expected.
"""

# Nothing is imported here: a server answering from a bundle imports the runtime modules
# (spec.py, intents.py, interpreter.py, rules.py), never the reader (folder.py) and its YAML
# and TOML. source.py turns a project into a training set (memchat.nn.training_data).
