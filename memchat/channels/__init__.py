"""How people and programs reach a bot: Rasa's REST channel (``rest.py``) behind its guards
(``guards.py``) and run by uvicorn (``serving.py``), Rasa's socket.io channel (``socketio.py``),
the OpenAPI document (``openapi.py``), the chat page (``chat.html``) and the terminal REPL
(``repl.py``). They talk to a ``memchat.Bot``; nothing below imports them."""
