"""Plugins that ship with memchat, installed as the ``memchat_plugins`` package."""
