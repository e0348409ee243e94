#!/bin/sh
# Exercise 07 — reference solution: the lesson's workflow, one docker command a line.
# The grader reads this file; it never runs it as a shell script.

# Build the image from this folder and name it (repository:tag).
docker build -t my-iris-api:v1 .
docker images my-iris-api

# Start it in the background (-d), host port 5001 -> container port 5001, with a name.
docker run -d -p 5001:5001 --name my-api-container my-iris-api:v1
docker ps

# Ask the API for a prediction through the published port.
curl -X POST -H "Content-Type: application/json" -d '{"features": [6.7, 3.0, 5.2, 2.3]}' http://localhost:5001/predict_iris

# What the app printed when it started.
docker logs my-api-container

# Clean up: stop, then remove the container, then the image it was made from.
docker stop my-api-container
docker rm my-api-container
docker rmi my-iris-api:v1
