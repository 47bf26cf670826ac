// The webcam, shared by the Live and Collect pages: open it, or say why it cannot be opened.
export async function openCamera(video, message) {
  const say = (text, state = "") => {
    message.textContent = text;
    message.classList.toggle("error", Boolean(state));
    message.dataset.state = state;
    message.hidden = !text;
  };
  if (!navigator.mediaDevices?.getUserMedia) {
    say("No camera API in this browser (it needs HTTPS or localhost).", "error");
    return null;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (error) {
    const denied = error.name === "NotAllowedError" || error.name === "SecurityError";
    const missing = error.name === "NotFoundError" || error.name === "OverconstrainedError";
    say(
      denied ? "Camera access was denied. Allow the camera for this site in the browser's settings, then press Start again."
        : missing ? "No camera found. Connect a camera, then press Start again."
        : `The camera could not start (${error.name}).`,
      denied ? "denied" : missing ? "missing" : "error",
    );
    return null;
  }
  video.srcObject = stream;
  await video.play();
  say("");
  return stream;
}

export function closeCamera(stream) {
  stream?.getTracks().forEach((track) => track.stop());
}

// The current video frame as a JPEG blob.
export function grabFrame(video, canvas = document.createElement("canvas")) {
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
}
