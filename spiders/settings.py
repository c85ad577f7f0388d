"""Every crawl setting, in one place, polite by default.

Scrapy's library defaults are not polite or safe (robots.txt ignored, 180 s timeouts, 1 GiB pages,
no throttling); each value below is chosen on purpose. A source may override only the politeness
keys listed in spiders/sources.py (e.g. the loopback replica needs no delay).
"""

BOT_NAME = "nightdesk"
SPIDER_MODULES = ["spiders.spiders"]
NEWSPIDER_MODULE = "spiders.spiders"

# Honest, contactable identity; operators set NIGHTDESK_CONTACT to their own address.
USER_AGENT = "NightdeskBot/0.1 (nightly news archiver; +https://github.com/nightdesk)"

ROBOTSTXT_OBEY = True

# Politeness: at most 2 requests in flight per site, 1 s (randomised 0.5-1.5 s) between them,
# and AutoThrottle backs off further when the site slows down.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
RANDOMIZE_DOWNLOAD_DELAY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Safety: a news page is a few hundred KB; anything near 10 MiB is not an article.
DOWNLOAD_TIMEOUT = 30
DNS_TIMEOUT = 10
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
REDIRECT_MAX_TIMES = 5

# Transient failures are retried; 429 included (Retry-After handling is issue 5's fault suite).
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]

# Stateless crawling: no cookies (no consent walls or sessions to carry), no telnet console.
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
HTTPCACHE_ENABLED = False

# Items leave through feed exports configured per run by spiders/run.py (always overwrite).
FEED_EXPORT_ENCODING = "utf-8"
FEED_STORE_EMPTY = True

EXTENSIONS = {"spiders.extensions.StatsDump": 500}
# spiders/run.py sets these per crawl.
NIGHTDESK_STATS_PATH = None
NIGHTDESK_REPLICA_ADDR = None  # "127.0.0.1:PORT" routes the site's hosts to a local replica
NIGHTDESK_REPLICA_HOSTS = []

LOG_LEVEL = "INFO"
