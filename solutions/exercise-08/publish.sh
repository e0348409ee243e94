#!/bin/sh
# Exercise 08 — reference solution: share the image through a registry, then run exactly what was shared.
# The grader gives two variables: $REGISTRY (its registry's address) and $DIGEST (what the last push printed).

# Build with the version as the tag, then give it the registry's name too.
docker build -t my-iris-api:1.0.0 .
docker tag my-iris-api:1.0.0 $REGISTRY/my-iris-api:1.0.0

# Send it to the registry.
docker push $REGISTRY/my-iris-api:1.0.0

# Forget the local copy (both names), so the next pull really comes from the registry.
docker rmi my-iris-api:1.0.0 $REGISTRY/my-iris-api:1.0.0

# Pull it back and run it by digest: the exact image that was pushed, whatever the tag says later.
docker pull $REGISTRY/my-iris-api@$DIGEST
docker run -d -p 5001:5001 --name my-api-container $REGISTRY/my-iris-api@$DIGEST
curl -X POST -H "Content-Type: application/json" -d '{"features": [6.7, 3.0, 5.2, 2.3]}' http://localhost:5001/predict_iris

# Clean up.
docker stop my-api-container
docker rm my-api-container
docker rmi $REGISTRY/my-iris-api@$DIGEST
