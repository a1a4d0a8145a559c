from ipctop.cli import entry

entry()
