"""The dialog bAbI tasks (Bordes, Boureau & Weston, 2017): their file formats (``files.py``),
their knowledge-base queries (``kbquery.py``), a task folder's files (``taskfiles.py``), and a
task folder as a training set (``source.py``). Imports the shared types and, for the training
set, ``memchat.nn``; nothing of projects, the dialogue or the channels."""
