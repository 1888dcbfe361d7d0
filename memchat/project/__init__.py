"""Bot projects in Rasa 3.x's formats: a folder memchat reads, checks and trains on.

    PROJECT/domain.yml (or domain/)   intents, entities, slots, responses, actions, forms
    PROJECT/data/**/*.yml             NLU examples, synonyms, lookups; stories; rules
    PROJECT/tests/*.yml               test stories, with the user's text (``memchat test``)
    PROJECT/config.toml               memchat's settings: [train], [generate], [kb], [rules], [acts]
    PROJECT/*.csv                     a knowledge base the bot searches, named in config.toml [kb]

Of Rasa's ``config.yml`` only Duckling's dimensions are read (its pipeline and policies are not:
memchat says so once, in a note); of ``endpoints.yml`` the action server's URL. Every error names
``file:line`` and what was expected. ``acts.txt`` is memchat's own: how people say the common
things (``acts.py``), joined to the intents that are those acts.
"""

# Nothing is imported here: a server answering from a bundle imports the runtime modules
# (spec.py, intents.py, interpreter.py, rules.py), never the reader (folder.py) and its YAML
# and TOML. source.py turns a project into a training set (memchat.nn.training_data).
