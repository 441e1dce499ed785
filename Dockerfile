# One small image running the same entry points as the README:
#   docker run -p 8080:8080 -p 50051:50051 -e ANTHROPIC_API_KEY=... gateway          # gRPC + REST (make run)
#   docker run ... gateway python -m service --grpc-only                                # the service alone
#   docker run -e SERVICE_ADDR=service:50051 ... gateway python -m bridge              # the bridge alone
FROM python:3.11-slim AS build
WORKDIR /app
COPY requirements.txt requirements-docs.txt ./
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir -r requirements.txt \
 && /venv/bin/pip install --no-cache-dir --no-deps -r requirements-docs.txt \
 && python -m venv /tools && /tools/bin/pip install --no-cache-dir grpcio-tools==1.85.1
COPY proto proto
RUN mkdir -p gen/python && /tools/bin/python -m grpc_tools.protoc -Iproto --python_out=gen/python \
      --pyi_out=gen/python --grpc_python_out=gen/python $(find proto -name '*.proto')

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 gateway && mkdir /data && chown gateway /data
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=build /app/gen gen
COPY service service
COPY bridge bridge
ENV PATH=/venv/bin:$PATH PYTHONPATH=/app:/app/gen/python PYTHONUNBUFFERED=1 \
    BIND_HOST=0.0.0.0 DATA_DIR=/data
USER gateway
EXPOSE 8080 50051
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
CMD ["python", "-m", "service"]
