// Shows upload progress: the form is sent with XMLHttpRequest, whose upload events fetch lacks.
// Without JavaScript the form posts normally.
(function () {
  const form = document.getElementById('upload-form')
  if (!form || !window.XMLHttpRequest || !window.FormData) return
  const box = document.getElementById('upload-progress')
  const bar = document.getElementById('upload-bar')
  const percent = document.getElementById('upload-percent')
  form.addEventListener('submit', function (event) {
    event.preventDefault()
    const button = form.querySelector('button[type=submit]')
    const request = new XMLHttpRequest()
    request.open('POST', form.action)
    request.upload.addEventListener('progress', function (e) {
      if (!e.lengthComputable) return
      bar.value = Math.round((e.loaded / e.total) * 100)
      if (percent) percent.textContent = bar.value + '%'
    })
    request.addEventListener('load', function () {
      // Success is a 303 the request followed: the page it landed on is already here (with its
      // one-time "now in the catalogue" message, which a second request would no longer get), so
      // show it under its own address. A rejected form comes back as a page with its messages.
      if (request.status < 400 && request.responseURL) {
        window.history.replaceState(null, '', request.responseURL)
      }
      document.open()
      document.write(request.responseText)
      document.close()
    })
    request.addEventListener('error', function () {
      button.disabled = false
      box.hidden = true
      alert('The upload failed: check your connection and try again.')
    })
    box.hidden = false
    bar.value = 0
    button.disabled = true
    request.send(new FormData(form))
  })
})()
