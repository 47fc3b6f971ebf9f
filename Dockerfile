# The paper bot in a container: Python 3.11 (as CI), a non-root user, the journal on a volume.
#
#   docker build -t tradingbot .
#   docker run -d --name tradingbot --restart on-failure:5 --stop-timeout 60 \
#     --env-file /etc/tradingbot/env -v tradingbot-state:/var/lib/tradingbot tradingbot
#   docker exec tradingbot python main.py status
#
# Secrets come only from --env-file at run time: .dockerignore keeps .env out of the build
# context, so no key is ever baked into a layer. On SIGTERM (docker stop) the loop finishes its
# step, saves it and exits 0; --stop-timeout 60 gives it the same time as the systemd unit.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRADINGBOT_STATE_DIR=/var/lib/tradingbot \
    TRADINGBOT_CACHE_DIR=/var/cache/tradingbot/ohlcv \
    SCORER_CACHE_PATH=/var/lib/tradingbot/llm_cache.sqlite3 \
    NUMBA_CACHE_DIR=/var/cache/tradingbot/numba

# A fixed uid, so a bind-mounted state directory can be chowned to it on the host.
RUN groupadd --system --gid 10001 tradingbot \
    && useradd --system --uid 10001 --gid tradingbot --home-dir /var/lib/tradingbot \
       --shell /usr/sbin/nologin tradingbot \
    && install -d -o tradingbot -g tradingbot -m 0700 /var/lib/tradingbot /var/cache/tradingbot

WORKDIR /opt/tradingbot
# Requirements first: a code change does not reinstall numba, pandas and vectorbt.
COPY requirements.txt ./
RUN pip install -r requirements.txt
# The code stays owned by root: the bot can read it, not change it.
COPY . ./

USER tradingbot
VOLUME ["/var/lib/tradingbot"]
STOPSIGNAL SIGTERM
CMD ["python", "main.py", "run", "--paper"]
