#!/bin/sh
# Exercise 08 — share it: push the image to a registry, then pull and run exactly what was pushed.
# The grader replays this file safely (never as a shell script) and gives two variables:
#   $REGISTRY  the address of a registry it starts for you (write $REGISTRY/NAME:TAG)
#   $DIGEST    the digest (sha256:...) that the last `docker push` printed
# Under each numbered TODO write the command it describes, then delete the TODO line.

# Build the image with its version as the tag (done for you).
docker build -t my-iris-api:1.0.0 .

# TODO 2: Tag the image my-iris-api:1.0.0 with the registry's name: $REGISTRY/my-iris-api:1.0.0.

# TODO 3: Push $REGISTRY/my-iris-api:1.0.0 to the registry.

# TODO 4: Remove both local tags (my-iris-api:1.0.0 and $REGISTRY/my-iris-api:1.0.0) in one docker rmi.

# TODO 5: Pull the image back by digest: $REGISTRY/my-iris-api@$DIGEST.

# TODO 6: Run it by digest in the background, port 5001 published on 5001, named my-api-container.

# TODO 7: curl a prediction from it, as in exercise-07.
