// Shows upload progress: the form is sent with XMLHttpRequest, whose upload events fetch lacks.
// Without JavaScript the form posts normally.
(function () {
  const form = document.getElementById('upload-form')
  if (!form || !window.XMLHttpRequest || !window.FormData) return
  const box = document.getElementById('upload-progress')
  const bar = document.getElementById('upload-bar')
  const percent = document.getElementById('upload-percent')
  // Moves the answer's messages into this page; false when the answer is not the form.
  function showProblems (html) {
    const answer = new DOMParser().parseFromString(html, 'text/html')
    const answerForm = answer.getElementById('upload-form')
    if (!answerForm) return false
    const old = document.getElementById('upload-problems')
    if (old) old.remove()
    const summary = answer.getElementById('upload-problems')
    if (summary) form.parentNode.insertBefore(document.importNode(summary, true), form)
    form.querySelectorAll('.field').forEach(function (field) {
      const input = field.querySelector('input, textarea')
      const counterpart = input && answerForm.querySelector('#' + input.id)
      const answerField = counterpart && counterpart.closest('.field')
      if (!answerField) return
      const invalid = answerField.classList.contains('invalid')
      field.classList.toggle('invalid', invalid)
      const problem = field.querySelector('.problem')
      if (problem) problem.remove()
      const answerProblem = answerField.querySelector('.problem')
      if (answerProblem) field.appendChild(document.importNode(answerProblem, true))
      ;['aria-invalid', 'aria-describedby'].forEach(function (name) {
        if (counterpart.hasAttribute(name)) input.setAttribute(name, counterpart.getAttribute(name))
        else input.removeAttribute(name)
      })
      // A refused file must be chosen again; a good one stays chosen.
      if (invalid && input.type === 'file') input.value = ''
    })
    const token = answerForm.querySelector('input[name=_csrf]')
    if (token) form.querySelector('input[name=_csrf]').value = token.value
    const shown = document.getElementById('upload-problems')
    if (shown) {
      shown.setAttribute('tabindex', '-1')
      shown.scrollIntoView({ block: 'start' })
      shown.focus({ preventScroll: true })
    }
    return true
  }

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
      // A refused form comes back as the form with its messages: show those messages here, in
      // the form as it is, so the files the person chose (which no page can fill in again) stay
      // chosen, and bring the messages into view.
      if (request.status >= 400 && showProblems(request.responseText)) {
        button.disabled = false
        box.hidden = true
        return
      }
      // Success is a 303 the request followed: the page it landed on is already here (with its
      // one-time "now in the catalogue" message, which a second request would no longer get), so
      // show it under its own address.
      if (request.status < 400 && request.responseURL) {
        window.history.replaceState(null, '', request.responseURL)
      }
      document.open()
      document.write(request.responseText)
      document.close()
      window.scrollTo(0, 0)
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
