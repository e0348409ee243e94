#!/bin/sh
# Exercise 07 — build, run, look, stop, clean up: the lesson's workflow, one docker command a line.
# The grader reads this file and replays each command safely; it never runs it as a shell script,
# so write plain commands: no `;`, `&&`, pipes, `$(...)` or variables.
# Under each numbered TODO write the command it describes, then delete the TODO line.

# Build the image from this folder and name it my-iris-api, version v1 (this one is done for you).
docker build -t my-iris-api:v1 .

# TODO 1: Run the image in the background (detached), publish the app's port 5001 on the host's port 5001,
#         and name the container my-api-container.

# TODO 2: Ask the API for a prediction with curl: POST the JSON {"features": [6.7, 3.0, 5.2, 2.3]}
#         to http://localhost:5001/predict_iris with the header Content-Type: application/json.

# TODO 3: Show what the container printed when the app started.

# TODO 4: Stop the container.

# TODO 5: Remove the container.

# TODO 6: Remove the image.
