"""Fault injection: a misbehaving Moscow Times look-alike on real loopback sockets.

server.py   FaultServer: raw-socket HTTP on any 127.x address, logging every request
pages.py    minimal Moscow Times documents (article page, RSS, news sitemaps, robots.txt)
catalog.py  the faults: how each article URL misbehaves and what the crawl must make of it
site.py     FaultSite: routes www/static requests to documents and faults by article id
config.py   a sources file that routes the site's hosts to a FaultServer
"""
